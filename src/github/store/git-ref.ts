import { execFileSync } from "node:child_process";
import { UserError } from "../../errors.ts";
import { keyFolder, parseKeyPath, type ResultsStore, type StoreKey, type StoredFile } from "./types.ts";

/**
 * A data branch read from a local clone (`git fetch origin prunebench-results` first), for the
 * CLI: no token, no API. Read-only: the Action writes the branch, through the git data API.
 */
export class GitRefStore implements ResultsStore {
  readonly description: string;

  constructor(
    private readonly dir: string,
    private readonly ref: string,
  ) {
    if (ref.startsWith("-") || !/^[\w./-]+$/.test(ref)) throw new UserError(`branch:${ref}: not a usable branch name`, { field: "store" });
    this.description = `branch ${ref} of ${dir}`;
  }

  /** Fails early, with git's reason, when the clone or the branch is missing. */
  check(): void {
    this.git(["rev-parse", "--verify", "--quiet", `${this.ref}^{commit}`], `no branch '${this.ref}' here (fetch it: git fetch origin ${this.ref.replace(/^origin\//, "")})`);
  }

  async save(): Promise<void> {
    throw new Error(`${this.description} is read-only here: the Action writes the data branch`);
  }

  async load(key: StoreKey): Promise<StoredFile[]> {
    const folder = keyFolder(key);
    const names = this.list(`${folder}/`).filter((p) => parseKeyPath(p));
    return names.map((p) => ({ name: p.slice(folder.length + 1), content: this.git(["show", `${this.ref}:${p}`]) }));
  }

  async fingerprints(commit: string): Promise<string[]> {
    const folder = keyFolder({ commit, fingerprint: "x" }).replace(/\/x$/, "");
    return [...new Set(this.list(`${folder}/`).map((p) => p.split("/")[2]))].sort();
  }

  async keys(): Promise<StoreKey[]> {
    const keys = new Map<string, StoreKey>();
    for (const p of this.list("results/")) {
      const found = parseKeyPath(p);
      if (found) keys.set(keyFolder(found.key), found.key);
    }
    return [...keys.values()];
  }

  private list(prefix: string): string[] {
    return this.git(["ls-tree", "-r", "--name-only", this.ref, "--", prefix]).split("\n").filter(Boolean).sort();
  }

  private git(args: string[], hint?: string): string {
    try {
      return execFileSync("git", ["-C", this.dir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 256 * 1024 * 1024 });
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? "").trim().split("\n")[0];
      throw new UserError(`${this.dir}: ${hint ?? `git ${args[0]} failed`}${stderr ? ` (${stderr})` : ""}`, { file: this.dir });
    }
  }
}
