/**
 * Process-wide defaults that libraries read when they are first imported; imported first by
 * the CLI. Grafast (PostGraphile) otherwise prints a warning when GRAPHILE_ENV is unset.
 */
process.env.GRAPHILE_ENV ??= process.env.NODE_ENV === 'development' ? 'development' : 'production';
