import { loadConfigAsync } from '../config/config';
import { initCrypto } from '../crypto';
import { openDatabase } from '../db/database';
import { createLogger } from '../logging/logger';
import { createServices, type Services } from '../services';

/** What a command receives: its arguments and a line printer. */
export interface CommandContext {
  args: string[];
  out(line: string): void;
}

export interface Command {
  summary: string;
  run(context: CommandContext): Promise<number>;
}

/** Opens config, crypto, database and services for a command, and always closes them. */
export async function withServices<T>(
  fn: (services: Services) => Promise<T>,
  options: { migrate?: boolean } = {},
): Promise<T> {
  const config = await loadConfigAsync();
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
  await initCrypto();
  const database = await openDatabase(config, logger, options);
  const services = createServices(config, database.orm, logger);
  try {
    return await fn(services);
  } finally {
    await services.close();
    await database.close();
  }
}
