/** Types of bootstrap.js, which stays plain JavaScript so it runs before any install. */
export function detectGpu(): { name: string; driver: string } | null;
