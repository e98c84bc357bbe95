import type { FileResource } from '../engine/resource.js';
import type { RenderedFile } from '../render/render-cluster.js';

export function fileResource(f: RenderedFile): FileResource {
  return { kind: 'file', path: f.path, content: f.content, mode: f.mode, owner: f.owner, group: f.group, restarts: f.restarts, secret: f.secret };
}
