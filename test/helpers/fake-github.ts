import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";

/**
 * A local HTTP server that answers as the GitHub REST API does for the endpoints the Action
 * uses: status codes, Link pagination, x-ratelimit-* headers, 403/429 rate limits with
 * retry-after, 422 for a comment body over 65,536 characters, 422 when a ref update is not a
 * fast forward. Tests point the real @octokit/rest client at it through baseUrl and read
 * back the requests it saw. Faults are scripted per route.
 */

export interface LoggedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  status: number;
}

export type Fault = { status: number; headers?: Record<string, string>; body?: unknown } | "drop";

interface ScriptedFault {
  method?: string;
  path: RegExp;
  fault: Fault;
  times: number;
}

export interface Comment {
  id: number;
  body: string;
  user: { login: string };
  created_at: string;
  updated_at: string;
}

interface GitCommit {
  sha: string;
  tree: string;
  parents: string[];
  message: string;
}

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

export class FakeGitHub {
  readonly requests: LoggedRequest[] = [];
  readonly comments = new Map<number, Comment[]>();
  readonly pullFiles = new Map<number, Array<{ filename: string; status: string }>>();
  readonly pulls = new Map<number, { headSha: string; baseSha: string; baseRef: string }>();
  readonly checkRuns: Array<Record<string, unknown>> = [];
  /** compare base...head answers this merge base (default: the base itself). */
  readonly mergeBases = new Map<string, string>();
  readonly blobs = new Map<string, string>();
  readonly trees = new Map<string, Map<string, string>>();
  readonly commits = new Map<string, GitCommit>();
  readonly refs = new Map<string, string>();
  /** Before each of the next N ref updates, another "job" moves the branch first. */
  raceRefUpdates = 0;
  rateLimitRemaining = 5000;
  /** GitHub refuses longer comment bodies with 422 (65,536 on github.com; a test may lower it). */
  commentLimit = 65536;
  /** GET /user answers this login; undefined answers 403, as it does for an Actions GITHUB_TOKEN. */
  tokenUser?: string;
  /** Who POSTed comments are by: the token's user, else github-actions[bot]. */
  get commenter(): string {
    return this.tokenUser ?? "github-actions[bot]";
  }
  private faults: ScriptedFault[] = [];
  private nextId = 1000;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  baseUrl = "";

  constructor(readonly owner = "octo", readonly repo = "models") {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** The next `times` requests matching answer with the fault instead. */
  fail(match: { method?: string; path: RegExp }, fault: Fault, times = 1): void {
    this.faults.push({ ...match, fault, times });
  }

  /** Drops the scripted faults not used up yet, so that one test's faults never reach the next. */
  clearFaults(): void {
    this.faults = [];
  }

  calls(method: string, path: RegExp): LoggedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  /** Reads a file from a branch, as a checkout would see it. */
  fileAt(branch: string, file: string): string | undefined {
    const tip = this.refs.get(`heads/${branch}`);
    if (!tip) return undefined;
    const blob = this.trees.get(this.commits.get(tip)!.tree)!.get(file);
    return blob === undefined ? undefined : this.blobs.get(blob);
  }

  branchLog(branch: string): GitCommit[] {
    const out: GitCommit[] = [];
    for (let sha = this.refs.get(`heads/${branch}`); sha; sha = this.commits.get(sha)?.parents[0]) out.push(this.commits.get(sha)!);
    return out;
  }

  /** Commits a file on a branch directly (another job, or a human). */
  commitFile(branch: string, file: string, content: string): string {
    const tip = this.refs.get(`heads/${branch}`);
    const tree = new Map(tip ? this.trees.get(this.commits.get(tip)!.tree) : []);
    tree.set(file, this.putBlob(content));
    const commit = this.putCommit(this.putTree(tree), tip ? [tip] : [], `commit ${file}`);
    this.refs.set(`heads/${branch}`, commit);
    return commit;
  }

  private putBlob(content: string): string {
    const sha = sha1(`blob ${content}`);
    this.blobs.set(sha, content);
    return sha;
  }

  private putTree(tree: Map<string, string>): string {
    const sha = sha1(`tree ${JSON.stringify([...tree].sort())}`);
    this.trees.set(sha, tree);
    return sha;
  }

  private putCommit(tree: string, parents: string[], message: string): string {
    const sha = sha1(`commit ${tree} ${parents.join(",")} ${message} ${this.nextId++}`);
    this.commits.set(sha, { sha, tree, parents, message });
    return sha;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.baseUrl);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const method = req.method ?? "GET";
    const path = decodeURIComponent(url.pathname);
    const log: LoggedRequest = { method, path, query: url.searchParams, body, status: 0 };
    this.requests.push(log);

    const fault = this.faults.find((f) => f.times > 0 && (!f.method || f.method === method) && f.path.test(path));
    if (fault) {
      fault.times--;
      if (fault.fault === "drop") {
        log.status = -1;
        req.socket.destroy();
        return;
      }
      log.status = fault.fault.status;
      this.send(res, fault.fault.status, fault.fault.body ?? { message: "scripted fault" }, fault.fault.headers);
      return;
    }
    if (req.headers.authorization !== "token test-token") {
      log.status = 401;
      this.send(res, 401, { message: "Bad credentials" });
      return;
    }
    const [status, data, headers] = this.route(method, path, url, body as Record<string, unknown>);
    log.status = status;
    this.send(res, status, data, headers);
  }

  private send(res: ServerResponse, status: number, data: unknown, headers: Record<string, string> = {}): void {
    const payload = status === 204 ? "" : JSON.stringify(data);
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "x-ratelimit-limit": "5000",
      "x-ratelimit-remaining": String(this.rateLimitRemaining),
      "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 3600),
      "x-ratelimit-used": String(5000 - this.rateLimitRemaining),
      "x-ratelimit-resource": "core",
      "x-github-api-version-selected": "2022-11-28",
      ...headers,
    });
    res.end(payload);
  }

  private page<T>(url: URL, items: T[]): [number, T[], Record<string, string>] {
    const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? 30));
    const page = Number(url.searchParams.get("page") ?? 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const links: string[] = [];
    const at = (p: number, rel: string) => {
      const u = new URL(url);
      u.searchParams.set("page", String(p));
      u.searchParams.set("per_page", String(perPage));
      links.push(`<${u.toString()}>; rel="${rel}"`);
    };
    if (page < last) {
      at(page + 1, "next");
      at(last, "last");
    }
    if (page > 1) {
      at(1, "first");
      at(page - 1, "prev");
    }
    return [200, items.slice((page - 1) * perPage, page * perPage), links.length ? { link: links.join(", ") } : {}];
  }

  private commentJson(c: Comment, issue?: number) {
    return { ...c, html_url: `https://github.test/${this.owner}/${this.repo}/pull/${issue ?? 0}#issuecomment-${c.id}` };
  }

  /** A comment by someone else (a user, another bot), as the API lists it. */
  addComment(issue: number, login: string, body: string): Comment {
    const now = new Date().toISOString();
    const c: Comment = { id: this.nextId++, body, user: { login }, created_at: now, updated_at: now };
    this.comments.set(issue, [...(this.comments.get(issue) ?? []), c]);
    return c;
  }

  private route(method: string, path: string, url: URL, body: Record<string, unknown>): [number, unknown, Record<string, string>?] {
    if (path === "/user" && method === "GET") {
      return this.tokenUser ? [200, { login: this.tokenUser, id: 1, type: "User" }] : [403, { message: "Resource not accessible by integration", documentation_url: "https://docs.github.com/rest/users/users#get-the-authenticated-user", status: "403" }];
    }
    const prefix = `/repos/${this.owner}/${this.repo}`;
    if (!path.startsWith(prefix)) return [404, { message: "Not Found" }];
    const p = path.slice(prefix.length);
    let m: RegExpExecArray | null;
    const notFound: [number, unknown] = [404, { message: "Not Found", documentation_url: "https://docs.github.com/rest" }];

    if ((m = /^\/pulls\/(\d+)\/files$/.exec(p)) && method === "GET") return this.page(url, this.pullFiles.get(Number(m[1])) ?? []);
    if ((m = /^\/pulls\/(\d+)$/.exec(p)) && method === "GET") {
      const pull = this.pulls.get(Number(m[1]));
      if (!pull) return notFound;
      return [200, { number: Number(m[1]), head: { sha: pull.headSha, repo: { full_name: "fork/models" } }, base: { sha: pull.baseSha, ref: pull.baseRef } }];
    }
    if ((m = /^\/issues\/(\d+)\/comments$/.exec(p))) {
      const issue = Number(m[1]);
      const list = this.comments.get(issue) ?? [];
      if (method === "GET") {
        const [s, items, h] = this.page(url, list);
        return [s, items.map((c) => this.commentJson(c, issue)), h];
      }
      if (method === "POST") {
        const text = String(body?.body ?? "");
        if (text.length > this.commentLimit) return [422, { message: "Validation Failed", errors: [{ resource: "IssueComment", code: "custom", field: "body", message: `body is too long (maximum is ${this.commentLimit} characters)` }], documentation_url: "https://docs.github.com/rest/issues/comments#create-an-issue-comment", status: "422" }];
        const now = new Date().toISOString();
        const c: Comment = { id: this.nextId++, body: text, user: { login: this.commenter }, created_at: now, updated_at: now };
        list.push(c);
        this.comments.set(issue, list);
        return [201, this.commentJson(c, issue)];
      }
    }
    if ((m = /^\/issues\/comments\/(\d+)$/.exec(p)) && method === "PATCH") {
      for (const [issue, list] of this.comments) {
        const c = list.find((x) => x.id === Number(m![1]));
        if (!c) continue;
        const text = String(body?.body ?? "");
        if (text.length > this.commentLimit) return [422, { message: "Validation Failed", errors: [{ resource: "IssueComment", code: "custom", field: "body", message: `body is too long (maximum is ${this.commentLimit} characters)` }], documentation_url: "https://docs.github.com/rest/issues/comments#update-an-issue-comment", status: "422" }];
        c.body = text;
        c.updated_at = new Date().toISOString();
        return [200, this.commentJson(c, issue)];
      }
      return notFound;
    }
    if (p === "/check-runs" && method === "POST") {
      const run = { id: this.nextId++, ...body, html_url: `https://github.test/${this.owner}/${this.repo}/runs/1` };
      this.checkRuns.push(run);
      return [201, run];
    }
    if ((m = /^\/compare\/([^.]+)\.\.\.(.+)$/.exec(p)) && method === "GET") {
      const base = this.mergeBases.get(`${m[1]}...${m[2]}`) ?? m[1];
      return [200, { status: "ahead", merge_base_commit: { sha: base }, base_commit: { sha: m[1] }, commits: [], files: [] }];
    }
    if ((m = /^\/git\/ref\/(.+)$/.exec(p)) && method === "GET") {
      const sha = this.refs.get(m[1]);
      return sha ? [200, { ref: `refs/${m[1]}`, object: { sha, type: "commit" } }] : notFound;
    }
    if (p === "/git/refs" && method === "POST") {
      const ref = String(body.ref).replace(/^refs\//, "");
      if (this.refs.has(ref)) return [422, { message: "Reference already exists" }];
      if (!this.commits.has(String(body.sha))) return [422, { message: "Object does not exist" }];
      this.refs.set(ref, String(body.sha));
      return [201, { ref: `refs/${ref}`, object: { sha: body.sha, type: "commit" } }];
    }
    if ((m = /^\/git\/refs\/(.+)$/.exec(p)) && method === "PATCH") {
      if (this.raceRefUpdates > 0) {
        this.raceRefUpdates--;
        this.commitFile(m[1].replace(/^heads\//, ""), `other/${this.nextId}.txt`, "another job");
      }
      const current = this.refs.get(m[1]);
      if (!current) return [422, { message: "Reference does not exist" }];
      const next = this.commits.get(String(body.sha));
      if (!next) return [422, { message: "Object does not exist" }];
      if (!body.force && !this.isAncestor(current, next.sha)) return [422, { message: "Update is not a fast forward", documentation_url: "https://docs.github.com/rest/git/refs#update-a-reference" }];
      this.refs.set(m[1], next.sha);
      return [200, { ref: `refs/${m[1]}`, object: { sha: next.sha, type: "commit" } }];
    }
    if ((m = /^\/git\/commits\/([0-9a-f]+)$/.exec(p)) && method === "GET") {
      const c = this.commits.get(m[1]);
      return c ? [200, { sha: c.sha, tree: { sha: c.tree }, parents: c.parents.map((sha) => ({ sha })), message: c.message }] : notFound;
    }
    if (p === "/git/commits" && method === "POST") {
      if (!this.trees.has(String(body.tree))) return [422, { message: "Tree SHA does not exist" }];
      const parents = (body.parents as string[]) ?? [];
      for (const parent of parents) if (!this.commits.has(parent)) return [422, { message: "Parent SHA does not exist" }];
      const sha = this.putCommit(String(body.tree), parents, String(body.message));
      return [201, { sha, tree: { sha: body.tree }, parents: parents.map((s) => ({ sha: s })), message: body.message }];
    }
    if (p === "/git/trees" && method === "POST") {
      const base = body.base_tree ? this.trees.get(String(body.base_tree)) : new Map<string, string>();
      if (!base) return [422, { message: "base_tree is not a valid tree oid" }];
      const tree = new Map(base);
      for (const entry of body.tree as Array<{ path: string; content?: string; sha?: string | null }>) {
        if (entry.content !== undefined) tree.set(entry.path, this.putBlob(entry.content));
        else if (entry.sha === null) tree.delete(entry.path);
        else if (entry.sha && this.blobs.has(entry.sha)) tree.set(entry.path, entry.sha);
        else return [422, { message: `tree.sha ${entry.sha} is not a valid blob` }];
      }
      return [201, { sha: this.putTree(tree), tree: [...tree].map(([path, sha]) => ({ path, sha, type: "blob", mode: "100644" })) }];
    }
    if ((m = /^\/git\/trees\/([0-9a-f]+)$/.exec(p)) && method === "GET") {
      const tree = this.trees.get(m[1]);
      if (!tree) return notFound;
      // Trees are kept flat (path -> blob); GitHub lists the folders too, and only with recursive set goes below the top.
      const recursive = url.searchParams.has("recursive");
      const entries = new Map<string, { path: string; mode: string; type: string; sha: string; size?: number }>();
      for (const [file, blob] of [...tree].sort(([a], [b]) => a.localeCompare(b))) {
        const parts = file.split("/");
        for (let i = 1; i < parts.length && (recursive || i === 1); i++) {
          const dir = parts.slice(0, i).join("/");
          if (!entries.has(dir)) entries.set(dir, { path: dir, mode: "040000", type: "tree", sha: sha1(`tree ${dir}`) });
        }
        if (recursive || parts.length === 1) entries.set(file, { path: file, mode: "100644", type: "blob", sha: blob, size: this.blobs.get(blob)?.length ?? 0 });
      }
      return [200, { sha: m[1], url: `${this.baseUrl}${path}`, tree: [...entries.values()], truncated: false }];
    }
    if ((m = /^\/git\/blobs\/([0-9a-f]+)$/.exec(p)) && method === "GET") {
      const content = this.blobs.get(m[1]);
      return content === undefined ? notFound : [200, { sha: m[1], encoding: "base64", content: Buffer.from(content).toString("base64"), size: content.length }];
    }
    if ((m = /^\/contents\/(.*)$/.exec(p)) && method === "GET") {
      const ref = url.searchParams.get("ref") ?? "main";
      const tip = this.refs.get(`heads/${ref}`);
      if (!tip) return notFound;
      const tree = this.trees.get(this.commits.get(tip)!.tree)!;
      const dir = m[1].replace(/\/$/, "");
      const entries = new Map<string, { name: string; path: string; type: string; sha: string }>();
      for (const [file, blob] of tree) {
        if (!file.startsWith(`${dir}/`)) continue;
        const rest = file.slice(dir.length + 1);
        const name = rest.split("/")[0];
        const isDir = rest.includes("/");
        entries.set(name, { name, path: `${dir}/${name}`, type: isDir ? "dir" : "file", sha: isDir ? sha1(`${dir}/${name}`) : blob });
      }
      if (entries.size === 0) return notFound;
      return [200, [...entries.values()]];
    }
    return notFound;
  }

  private isAncestor(ancestor: string, sha: string): boolean {
    for (let s: string | undefined = sha; s; s = this.commits.get(s)?.parents[0]) if (s === ancestor) return true;
    return false;
  }
}

/** A small valid result document, as the pipeline writes one per model and shard. */
export function makeResult(options: { model: string; fingerprint?: string; commit?: string; shard?: string; ppl?: Record<string, number>; p50?: number }): Record<string, unknown> {
  const fingerprint = options.fingerprint ?? "cpu-abc123";
  const runs = Object.entries(options.ppl ?? { "dense@0": 20, "magnitude@0.5": 25 }).map(([id, token]) => {
    const [method, sparsity] = id.split("@");
    const p50 = options.p50 ?? 10;
    return {
      id,
      method,
      sparsity: Number(sparsity),
      achievedSparsity: Number(sparsity),
      params: 1000,
      nonzeroParams: Math.round(1000 * (1 - Number(sparsity))),
      sizeBytes: 4000,
      finetuned: false,
      perplexity: { dataset: "bundled/test", protocol: "sliding-window", seqLen: 64, token, word: token * 1.3, bitsPerByte: 1.1, nll: Math.log(token), tokens: 500, words: 400, bytes: 2000, partial: false, seconds: 0.5 },
      latency: [{ provider: "cpu", batch: 1, seqLen: 64, samplesMs: [p50, p50 * 1.01, p50 * 0.99], p50, p90: p50 * 1.01, p99: p50 * 1.01, mean: p50, std: 0.1, tokensPerSecond: 6400 / p50, sessionMs: 3, warmup: 1 }],
    };
  });
  return {
    schema: 1,
    model: options.model,
    family: "decoder",
    architecture: "gpt2",
    configHash: "c0ffee",
    commit: options.commit ?? null,
    createdAt: "2026-11-28T00:00:00.000Z",
    runner: { os: "linux", cpu: "test cpu", cores: 2, memoryBytes: 1e9, gpu: null, driver: null, ort: "1.30.0", node: "20", provider: "cpu", fingerprint },
    runs,
    ...(options.shard ? { shard: options.shard } : {}),
  };
}
