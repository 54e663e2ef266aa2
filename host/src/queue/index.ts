/**
 * The fine-tune queue as its own entry point (`@s4op/host/queue`): loading BullMQ and ioredis costs ~0.25 s,
 * which programs importing `@s4op/host` for anything else should not pay.
 */
export { QueueFineTuner, settleJob } from './client.js';
export { QUEUE_NAME, WIRE_VERSION, redisClient, type JobData } from './connection.js';
