/** `GET /settings`: which sign-in methods this instance offers, in GoTrue's shape. */
import type { AuthDeps } from '../deps.ts';
import { enabledProviders } from './oauth.ts';

export async function settings(d: AuthDeps) {
  const config = await d.effectiveConfig();
  return {
    external: {
      email: true, phone: !!d.sms, anonymous_users: config.auth.anonymousSignins, ...enabledProviders(config),
      // ID-token sign-in (signInWithIdToken) is what these offer here.
      apple: !!config.auth.idTokens.apple, azure: !!config.auth.idTokens.azure, facebook: !!config.auth.idTokens.facebook,
    },
    disable_signup: config.auth.disableSignup,
    mailer_autoconfirm: config.auth.autoconfirm,
    phone_autoconfirm: false,
    sms_provider: d.sms?.name ?? '',
    saml_enabled: config.auth.saml.enabled,
  };
}
