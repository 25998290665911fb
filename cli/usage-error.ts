/** A command line the CLI cannot run: cli/nextmavens.ts prints the message and the usage, and exits 1. */
export class UsageError extends Error {}
