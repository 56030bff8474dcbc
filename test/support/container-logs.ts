import type Docker from 'dockerode';

/**
 * Resolves once the container's output (followed, no polling) contains `text`; rejects if the container
 * ends first or after `timeoutMs`. `what` names the container in the error.
 */
export async function untilLogsSay(container: Docker.Container, text: string, what: string, timeoutMs: number): Promise<void> {
  const stream = (await container.logs({ follow: true, stdout: true, stderr: true })) as NodeJS.ReadableStream & { destroy: () => void };
  let seen = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} did not print ${text} within ${timeoutMs} ms: ${seen.slice(-500)}`)), timeoutMs);
      stream.on('data', (c: Buffer) => {
        seen += c.toString('utf8');
        if (seen.includes(text)) {
          clearTimeout(timer);
          resolve();
        }
      });
      stream.on('end', () => {
        clearTimeout(timer);
        reject(new Error(`${what} exited before it printed ${text}: ${seen.slice(-500) || 'no output'}`));
      });
      stream.on('error', reject);
    });
  } finally {
    stream.destroy();
  }
}
