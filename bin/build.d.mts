/** The file URL of the compiled entry, built first when a source changed; undefined when it cannot be built here (see build.mjs). */
export function builtEntry(entry: 'cli-main' | 'forecast-thread', env?: Record<string, string | undefined>): Promise<string | undefined>;
