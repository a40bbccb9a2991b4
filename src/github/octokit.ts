import { Octokit } from "@octokit/rest";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import Bottleneck from "bottleneck";

/** The client every function in src/github receives; made once per run by createOctokit. */
export type GitHub = InstanceType<typeof Client>;

const Client = Octokit.plugin(retry, throttling);

export interface Pacing {
  /** Base of the retry waits: a 5xx is retried after 1, 4, 9 times this (plugin-retry). */
  retryBaseMs: number;
  /** Gap between two writes. GitHub asks for about a second to stay clear of secondary limits. */
  writeGapMs: number;
  /** How many times a rate-limited request is tried again before the error surfaces. */
  rateLimitRetries: number;
  /**
   * After this many attempts in a row without an answer (refused, dropped, timed out) the API
   * is taken for down and every later request fails at once: a dead API costs one request's
   * retries (1 + 4 + 9 times retryBaseMs), not every step's. A 5xx is an answer: retried, logged,
   * but the next request is still tried.
   */
  deadAfterFailures: number;
}

/** plugin-retry's default: a 5xx or a dropped connection is tried 3 more times. */
const RETRIES = 3;

export const GITHUB_PACING: Pacing = { retryBaseMs: 1000, writeGapMs: 1000, rateLimitRetries: 3, deadAfterFailures: RETRIES + 1 };

export interface CreateOctokitOptions {
  token: string;
  /** GITHUB_API_URL: https://api.github.com, a GHES server, or a local test server. */
  baseUrl?: string;
  pacing?: Partial<Pacing>;
  /** Where retries and rate limits are reported (core.warning in the Action). */
  warn?: (message: string) => void;
  /** Where each failed request is logged; many are expected (404 for a missing branch). */
  debug?: (message: string) => void;
  userAgent?: string;
}

/**
 * One client with retry (5xx, dropped connections) and throttling (primary and secondary
 * rate limits honour retry-after and x-ratelimit-reset). Requests are tried a bounded number
 * of times, so a dead API ends the run with an error rather than hanging it.
 */
export function createOctokit(options: CreateOctokitOptions): GitHub {
  const pacing = { ...GITHUB_PACING, ...options.pacing };
  const warn = options.warn ?? ((m: string) => console.error(m));
  const onLimit = (kind: string) => (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
    const again = retryCount < pacing.rateLimitRetries;
    warn(`GitHub ${kind} rate limit on ${request.method} ${request.url}; ${again ? `retrying after ${retryAfter}s` : "giving up"}`);
    return again;
  };
  // plugin-throttling keeps its limiters in module-level groups shared by every client; a
  // group of our own per client keeps pacing options apart (tests, several tokens).
  const write = new Bottleneck.Group({ maxConcurrent: 1, minTime: pacing.writeGapMs });
  const notifications = new Bottleneck.Group({ maxConcurrent: 1, minTime: pacing.writeGapMs * 3 });
  // Every attempt goes through this fetch (plugin-retry repeats the request below it), so each
  // failed attempt is logged here, and counted for the dead-API check.
  let failuresInARow = 0;
  let lastFailure = "";
  const failed = (where: string, what: string, answered: boolean) => {
    failuresInARow = answered ? 0 : failuresInARow + 1;
    lastFailure = what;
    const dead = failuresInARow >= pacing.deadAfterFailures;
    warn(`GitHub API: ${where} failed (${what}); ${dead ? "giving up, and taking the API for down: later requests fail at once" : "retried with backoff unless it was the last try"}`);
  };
  const loggedFetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const where = `${init?.method ?? "GET"} ${new URL(url instanceof Request ? url.url : url).pathname}`;
    try {
      const response = await fetch(url, init);
      if (response.status >= 500) failed(where, `HTTP ${response.status}`, true);
      else failuresInARow = 0;
      return response;
    } catch (error) {
      failed(where, (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message, false);
      throw error;
    }
  };
  const client = new Client({
    auth: options.token,
    baseUrl: options.baseUrl ?? "https://api.github.com",
    userAgent: options.userAgent ?? "prunebench-action",
    log: { debug: () => {}, info: () => {}, warn, error: options.debug ?? (() => {}) },
    retry: { retryAfterBaseValue: pacing.retryBaseMs, retries: RETRIES },
    request: { fetch: loggedFetch },
    throttle: {
      onRateLimit: onLimit("primary"),
      onSecondaryRateLimit: onLimit("secondary"),
      retryAfterBaseValue: Math.max(1, Math.round(pacing.retryBaseMs)),
      fallbackSecondaryRateRetryAfter: 60,
      write,
      notifications,
    },
  });
  // Registered last, so outside the retries: a request after the API was taken for down fails before any attempt.
  client.hook.wrap("request", async (request, requestOptions) => {
    if (failuresInARow >= pacing.deadAfterFailures) {
      throw new Error(`the GitHub API is not answering (${failuresInARow} attempts in a row got no answer, the last: ${lastFailure}); ${requestOptions.method} ${requestOptions.url} was not tried`);
    }
    return request(requestOptions);
  });
  return client;
}
