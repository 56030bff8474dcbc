import { chromium, type Browser, type BrowserContextOptions, type Page, type Route } from 'playwright-core';

/**
 * The tests' browser: Debian's Chromium (scripts/setup.sh installs it) driven by playwright-core.
 *
 * Chromium fails the requests it is connecting with `net::ERR_NETWORK_CHANGED` whenever an address
 * comes or goes on any of the host's interfaces (its network change notifier watches netlink, loopback
 * requests included). On this host that is every network the engine makes for a sandbox and every pod
 * the test cluster starts, so under the suite's load a page's module request could fail that way
 * (seen: `/src/index.css` failed with ERR_NETWORK_CHANGED, the app's import graph broke, React never
 * mounted, the page stayed blank). A user's Chrome on a Docker host sees the same; the tests must not.
 *
 * So the tests' pages fetch through Playwright instead (Node's HTTP client, which does not watch the
 * interfaces): `steadyPage` routes every request to `route.fetch()` and hands the answer to the page
 * unchanged (status, headers, body; redirects are the page's to follow), and a connection the server
 * refuses or drops still fails the page's request with the matching network error. What stays on
 * Chromium's own stack: WebSockets (Playwright cannot route them off it) and, by `passThrough`,
 * streams that never end (server-sent events), which their pages reconnect by themselves.
 */
export const CHROMIUM = process.env.WARDEN_CHROMIUM ?? '/usr/bin/chromium';

/** A generous bound for one request: a dev server's first transform on a starved half CPU. */
const FETCH_TIMEOUT_MS = 60_000;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--disable-dev-shm-usage',
      // a document handed over by route.fulfill has no address of its own, so Chromium would count it
      // as public and refuse its WebSockets to loopback (ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS); it
      // came from loopback, as the page a user opens does
      '--disable-features=LocalNetworkAccessChecks',
    ],
  });
}

export interface SteadyPageOptions extends BrowserContextOptions {
  /** Requests left to Chromium's own stack: streams that never end (route.fetch reads a body whole). */
  passThrough?: (url: URL) => boolean;
}

/** A new page whose requests do not fail when the host's interfaces change (see above). */
export async function steadyPage(browser: Browser, opts: SteadyPageOptions = {}): Promise<Page> {
  const { passThrough, ...contextOptions } = opts;
  const page = await browser.newPage(contextOptions);
  await page.route(
    (url) => url.protocol === 'http:' || url.protocol === 'https:',
    (route) => (passThrough?.(new URL(route.request().url())) ? route.continue() : forward(route)),
  );
  return page;
}

/** The dashboard's live streams (server-sent events): left to the browser, which reconnects them. */
export const dashboardStreams = (url: URL): boolean => /^\/api\/v1\/(events|sandboxes\/[^/]+\/output)$/.test(url.pathname);

async function forward(route: Route): Promise<void> {
  let response;
  try {
    response = await route.fetch({ maxRedirects: 0, timeout: FETCH_TIMEOUT_MS });
  } catch (err) {
    await route.abort(networkError(err)).catch(() => undefined);
    return;
  }
  // the page may have closed or navigated away meanwhile: nothing is left to answer
  await route.fulfill({ response }).catch(() => undefined);
}

/** The page-side error for a request Node could not complete, as Chromium would have named it. */
function networkError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/ECONNREFUSED/.test(msg)) return 'connectionrefused';
  if (/ECONNRESET|socket hang up|EPIPE/.test(msg)) return 'connectionreset';
  if (/Timeout|ETIMEDOUT/i.test(msg)) return 'timedout';
  if (/ENOTFOUND|EAI_AGAIN/.test(msg)) return 'namenotresolved';
  return 'failed';
}
