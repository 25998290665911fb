/** Command-line options of the `nextmavens` subcommands. */

/** The value after `flag` in `args` (`--slug acme` → `acme`), or undefined when the flag is absent. */
export function optionValue(args: string[], flag: string): string | undefined {
  return args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined;
}
