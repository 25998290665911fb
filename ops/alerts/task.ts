/**
 * The `ops_alert` graphile-worker task: one alert message to one channel (queued by
 * ops/alerts/engine.ts). A failed delivery throws, so graphile-worker retries it with back-off.
 */
import type { Task } from 'graphile-worker';
import type { Config } from '../../config/load.ts';
import { deliver } from './channels.ts';
import type { AlertJob } from './engine.ts';

export { ALERT_TASK } from '../store.ts';

export function alertDeliveryTask(config: Config): Task {
  return async (payload) => {
    const job = payload as AlertJob;
    await deliver(config, job.channel, job.message);
  };
}
