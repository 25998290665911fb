import pkg from '../package.json' with { type: 'json' };

/** The stack's version, from package.json. */
export const VERSION: string = pkg.version;
