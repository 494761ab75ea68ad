/** A component that reports its state in /health (database, MQTT, pollers, background jobs). */
export interface HealthProbe {
  readonly name: string;
  check(): Promise<{ ok: boolean; [k: string]: unknown }> | { ok: boolean; [k: string]: unknown };
}
