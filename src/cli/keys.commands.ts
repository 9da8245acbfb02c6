import type { Command } from './cli-context';

/** Key and PHI operator commands: keys:rotate, keys:status, keys:retire, phi:check. */
export const KEY_COMMANDS: Record<string, Command> = {};
