import 'reflect-metadata';

import type { CommandContext } from './cli-context';
import { COMMANDS } from './commands';

/** Operator commands: `npm run cli -- <command> [options]`. Exit code 0 on success. */
async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    process.stdout.write('Usage: npm run cli -- <command> [options]\n\nCommands:\n');
    for (const [commandName, { summary }] of Object.entries(COMMANDS)) {
      process.stdout.write(`  ${commandName.padEnd(20)} ${summary}\n`);
    }
    return name ? 2 : 0;
  }
  const context: CommandContext = { args, out: (line) => process.stdout.write(`${line}\n`) };
  return command.run(context);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : 'unknown error'}\n`);
    process.exit(1);
  },
);
