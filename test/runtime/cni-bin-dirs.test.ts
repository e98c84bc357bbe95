import { describe, expect, it } from 'vitest';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { hostValues } from '../../src/phases/index.js';
import { createRuntimePhase } from '../../src/phases/runtime.js';
import { renderCluster } from '../../src/render/render-cluster.js';
import { containerdTakesCniBinDirs } from '../../src/runtime/versions.js';
import { parseVersion } from '../../src/upstream/index.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const v = (text: string) => parseVersion(text)!;

/** containerd 2.1 deprecated the CRI's `cni.bin_dir` for `bin_dirs`, and refuses a config that sets both. */
describe("containerd's CNI plugin folders", () => {
  const tmp = useTempDir();

  it('takes bin_dirs from containerd 2.1 on', () => {
    expect(containerdTakesCniBinDirs(v('2.1.0'))).toBe(true);
    expect(containerdTakesCniBinDirs(v('3.0.0'))).toBe(true);
    expect(containerdTakesCniBinDirs(v('2.0.7'))).toBe(false);
    expect(containerdTakesCniBinDirs(v('1.7.28'))).toBe(false);
    expect(containerdTakesCniBinDirs(undefined)).toBe(false);
  });

  it.each([
    ['2.3.0', 'bin_dirs = ["/opt/cni/bin"]', 'bin_dir ='],
    ['2.0.7', 'bin_dir = "/opt/cni/bin"', 'bin_dirs'],
    ['1.7.28', 'bin_dir = "/opt/cni/bin"', 'bin_dirs'],
  ])('renders containerd %s a config with %s', (containerd, wanted, unwanted) => {
    const spec = clusterFrom(tmp(), 'CONTAINER_RUNTIME_SOURCE=bundle\n');
    const runtime = createRuntimePhase({ bundle: { containerdVersion: v(containerd), binaries: () => [] } });
    // Every phase's values, the bundled runtime's in place of the default one.
    const { hosts, problems } = renderCluster(spec, BUNDLED_UNITS, (h) => ({ ...hostValues(h, undefined), ...hostValues(h, undefined, [runtime]) }));
    expect(problems).toEqual([]);
    const config = hosts.find((h) => h.host.name === 'w1')!.files.find((f) => f.path === '/etc/containerd/config.toml')!.content;
    expect(config).toContain(wanted);
    expect(config).not.toContain(unwanted);
    expect(config).toContain('conf_dir = "/etc/cni/net.d"');
  });
});
