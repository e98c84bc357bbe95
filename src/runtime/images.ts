import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { HOST_PATHS } from '../components/paths.js';
import type { CommandResource, FileResource } from '../engine/resource.js';
import { shq } from '../ssh/quote.js';

/**
 * An image that comes without a registry: an archive on the controller (docker save or OCI layout
 * tar, as the offline bundle holds them) and the reference it carries.
 */
export interface ImageArchive {
  /** registry/repository:tag, as the kubelet and containerd name it: `registry.k8s.io/pause:3.10`. */
  ref: string;
  /** Path of the archive on the controller. */
  archive: string;
}

/** Where archives wait on a host; kept, so that a no-op run finds them in place and sends nothing. */
export const IMAGE_ARCHIVE_DIR = HOST_PATHS.imageArchiveDir;

/** The namespace the kubelet's CRI uses: images imported elsewhere are invisible to pods. */
export const CRI_NAMESPACE = 'k8s.io';

const present = (ref: string) => `ctr -n ${CRI_NAMESPACE} images ls -q | grep -qxF ${shq(ref)}`;

/**
 * The archive on the host, then an import into containerd's CRI namespace that runs only when the
 * image is missing (its check is one `ctr images ls` in the batched probe), after containerd is up.
 * An archive that does not hold the reference fails the import instead of re-importing every run.
 */
export function imageResources(image: ImageArchive): [FileResource, CommandResource] {
  const onHost = `${IMAGE_ARCHIVE_DIR}/${basename(image.archive)}`;
  return [
    { kind: 'file', path: onHost, content: readFileSync(image.archive), mode: 0o644, owner: 'root', group: 'root', restarts: [] },
    {
      kind: 'command',
      name: `image-import:${image.ref}`,
      description: `import ${image.ref} into containerd (namespace ${CRI_NAMESPACE}) from ${onHost}`,
      // One listing for all of a host's images (ListedCheck).
      check: { list: `ctr -n ${CRI_NAMESPACE} images ls -q`, line: image.ref },
      run: `ctr -n ${CRI_NAMESPACE} images import ${shq(onHost)} && { ${present(image.ref)} || { echo ${shq(`${onHost} does not hold ${image.ref}`)} >&2; exit 1; }; }`,
      failureHint: `make sure ${image.archive} is a docker or OCI image archive tagged ${image.ref}`,
      afterServices: true,
    },
  ];
}
