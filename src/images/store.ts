/**
 * Where Warden's own images are built and kept, whatever the backend (Docker: the engine's image store
 * through the Engine API, runtime/docker/images.ts; Kubernetes: the nodes' image store or a registry).
 * The catalog (catalog.ts) says what to build; a store builds it when its content hash changed.
 */
export type ProgressFn = (line: string) => void;

export interface BuildResult { ref: string; id: string; hash: string; built: boolean; seconds: number; sizeBytes: number }

export interface ImageRow { ref: string; id: string; sizeBytes: number; createdAt: string; hash?: string; present: boolean; description: string }

export interface ImageStore {
  /** Build the named catalog images (default all) whose content changed, on `base` ('auto' picks one). */
  buildAll(opts: { names?: string[]; base: string; force?: boolean; bootstrapIfMissing: boolean; progress: ProgressFn }): Promise<BuildResult[]>;
  /** The offline path: make the base image with debootstrap; returns its reference. */
  bootstrap(opts: { progress: ProgressFn; suite?: string; mirror?: string; force?: boolean }): Promise<string>;
  /** Warden's images, present or not. */
  list(): Promise<ImageRow[]>;
}
