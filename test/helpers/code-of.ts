import { isSubscriptionWebhooksError } from '../../src/core/errors.js';

/** The error code a promise rejects with, or 'ACCEPTED'. Any other error is rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ACCEPTED';
  } catch (error) {
    if (isSubscriptionWebhooksError(error)) return error.code;
    throw error;
  }
}
