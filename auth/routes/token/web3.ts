/** `grant_type=web3` (signInWithWeb3): this build has no Web3 provider, so GoTrue's answer when it is off. */
import { AUTH_ERRORS } from '../../errors.ts';

export async function web3Grant(): Promise<never> {
  throw AUTH_ERRORS.web3Disabled();
}
