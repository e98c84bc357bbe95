import type { ArtifactProvider } from '../artifacts/provider.js';
import { serviceOfBinary } from '../components/binaries.js';
import type { LocalFileResource } from '../engine/resource.js';
import type { TransferCodec } from '../transfer/transfer-codec.js';
import type { Arch, BinaryName } from '../upstream/index.js';

/**
 * A binary the run resolved, as a file for a host: 0755 root:root at `path`, sent in `codec`'s
 * encoding, recorded with its component and version, restarting the service whose daemon it is.
 * What the artifacts phase installs, and the runtime's release binaries.
 */
export function binaryFile(provider: ArtifactProvider, name: BinaryName, arch: Arch, codec: TransferCodec, path: string, more: Pick<LocalFileResource, 'verify' | 'why'> = {}): LocalFileResource {
  const b = provider.binary(name, arch);
  const service = serviceOfBinary(name);
  // A plan sends nothing: the raw file stands in for an encoding it need not make.
  const transfer = provider.hasEncoding(b, codec) ? provider.encoding(b, codec) : { codec: 'none' as const, file: b.file, bytes: b.size };
  return {
    kind: 'localFile',
    path,
    mode: 0o755,
    owner: 'root',
    group: 'root',
    source: { sha256: b.sha256, size: b.size, transfer },
    restarts: service ? [service] : [],
    ...(more.verify ? { verify: true } : {}),
    ...(more.why ? { why: more.why } : {}),
    record: { component: name, version: b.version },
    label: `${name} ${b.version}`,
  };
}
