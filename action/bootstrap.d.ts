export function detectGpu(): { name: string; driver: string } | null;
export function diskBytes(dir: string): number;
export function isOtherPlatformBinary(rel: string, platform?: string, arch?: string): boolean;
export function keepPlatformBinaries(modules: string, platform?: string, arch?: string): void;
export function installRuntime(wanted: "cpu" | "cuda"): Promise<"cpu" | "cuda">;
