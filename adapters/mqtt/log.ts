/** The logging the MQTT adapter needs; a pino logger (fastify's) fits. */
export type LogFn = (fields: Record<string, unknown>, message: string) => void;

export interface MqttLog {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}

const quiet: LogFn = () => {};
export const SILENT_LOG: MqttLog = { debug: quiet, info: quiet, warn: quiet, error: quiet };
