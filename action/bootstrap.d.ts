export function detectGpu(): { name: string; driver: string } | null;
export function diskBytes(dir: string): number;
export function keepPlatformBinaries(modules: string, platform?: string, arch?: string): void;
