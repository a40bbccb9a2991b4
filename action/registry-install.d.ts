export type NpmConfig = Record<string, string>;
export interface LockFile {
  packages?: Record<string, { version?: string; integrity?: string; resolved?: string; name?: string; link?: boolean; inBundle?: boolean; optional?: boolean; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }>;
}
export class IntegrityError extends Error {}
export function parseNpmrc(text: string, env?: NodeJS.ProcessEnv): NpmConfig;
export function npmConfig(env?: NodeJS.ProcessEnv): NpmConfig;
export function directInstallBlocker(config: NpmConfig, env?: NodeJS.ProcessEnv): string | null;
export function registryFor(config: NpmConfig, name: string): string;
export function tarballUrl(config: NpmConfig, name: string, version: string): string;
export function tlsOptions(config: NpmConfig): { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
export function authTokenFor(config: NpmConfig, url: string): string | null;
export function resolveInLock(packages: Record<string, unknown>, from: string, name: string): string | null;
export function lockPackages(lock: LockFile, skip?: ReadonlySet<string>): Array<{ key: string; name: string; version: string; integrity: string; dir: string }>;
export function extractTar(streams: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream>, dest: string, keep?: (rel: string) => boolean, signal?: AbortSignal): Promise<void>;
export function fetchPackage(options: { url: string; integrity: string; dest: string; keep: (rel: string) => boolean; token?: string | null; tls?: object; signal?: AbortSignal }): Promise<void>;
export function installFromRegistry(options: { lock: LockFile; modules: string; keep: (name: string, rel: string) => boolean; skip?: ReadonlySet<string>; config: NpmConfig }): Promise<number>;
