/**
 * Messages per second a client may send (heartbeats excepted), as Supabase Realtime's
 * max_events_per_second: per socket (REALTIME_MAX_EVENTS_PER_SECOND) and, optionally, for all
 * sockets of one tenant together (REALTIME_TENANT_MAX_EVENTS_PER_SECOND). 0 = unlimited.
 * Fixed one-second windows, as the per-socket limit has always counted.
 */
export interface SocketRate {
  window: number;
  count: number;
}

export class MessageRate {
  readonly #perSocket: number;
  readonly #perTenant: number;
  #tenantWindow = 0;
  readonly #tenants = new Map<string, number>();

  constructor(perSocket: number, perTenant: number) {
    this.#perSocket = perSocket;
    this.#perTenant = perTenant;
  }

  /** A new socket's counter. */
  socket(): SocketRate {
    return { window: 0, count: 0 };
  }

  /** Counts one message; false when it is over a limit (and must be dropped). */
  admit(socket: SocketRate, tenant: string | undefined, now = Date.now()): boolean {
    const second = Math.floor(now / 1000);
    if (this.#perSocket > 0) {
      if (socket.window !== second) {
        socket.window = second;
        socket.count = 0;
      }
      if (++socket.count > this.#perSocket) return false;
    }
    if (this.#perTenant > 0 && tenant !== undefined) {
      if (this.#tenantWindow !== second) {
        this.#tenantWindow = second;
        this.#tenants.clear();
      }
      const count = (this.#tenants.get(tenant) ?? 0) + 1;
      this.#tenants.set(tenant, count);
      if (count > this.#perTenant) return false;
    }
    return true;
  }
}
