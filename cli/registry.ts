/** Every service's factory, by name. The embedded gateway builds them all; compose builds one. */
import type { ServiceName } from '../gateway/routes.ts';
import type { ServiceFactory } from '../core/service.ts';
import { createRestService } from '../rest/service.ts';
import { createAuthService } from '../auth/service.ts';
import { createGraphqlService } from '../graphql/service.ts';
import { createRealtimeService } from '../realtime/service.ts';
import { createStorageService } from '../storage/service.ts';

export const SERVICE_FACTORIES: Record<ServiceName, ServiceFactory> = {
  rest: createRestService,
  auth: createAuthService,
  graphql: createGraphqlService,
  realtime: createRealtimeService,
  storage: createStorageService,
};
