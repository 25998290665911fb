/** The storage service. Until its issue lands it is a stub that answers 501. */
import type { ServiceContext, Service } from '../gateway/service.ts';
import { createStubService } from '../services/stub.ts';

export function createStorageService(ctx: ServiceContext): Promise<Service> {
  return createStubService('storage', ctx);
}
