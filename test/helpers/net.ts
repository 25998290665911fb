export { freePort } from '../../core/free-port.ts';
