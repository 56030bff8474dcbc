import Docker from 'dockerode';

/** A dockerode client from DOCKER_HOST (or the default socket). One per Warden instance, no singleton. */
export function connectDocker(opts?: { socketPath?: string }): Docker {
  if (opts?.socketPath) return new Docker({ socketPath: opts.socketPath });
  return new Docker();
}
