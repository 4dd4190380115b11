import type { Cell } from "../domain/catalogue";
import { type Env, loadConfig } from "../env";
import { retryDelaySeconds } from "../ingest/circuit";
import { ingestMessage, QUEUES, recomputeMessage } from "../ingest/messages";
import { errorType, logEvent } from "../observability/log";
import { observeBackgroundWork } from "../observability/telemetry";
import { createServiceContext, type ServiceContext } from "../service/context";
import { recomputeCells, recordDeadLetter } from "../service/recompute";
import { refreshSource, scheduleDueRefreshes } from "../service/refresh";

/**
 * A body that does not parse is a poison message: it is retried like any failure, so after the
 * configured attempts the queue moves it to the dead-letter queue, where it is kept for a human.
 */
function retryPoisonMessage(message: Message, ctx: ServiceContext) {
  message.retry({ delaySeconds: retryDelaySeconds(message.attempts, ctx.config.retryBaseSeconds) });
}

async function consumeIngest(batch: MessageBatch, ctx: ServiceContext) {
  for (const message of batch.messages) {
    const parsed = ingestMessage.safeParse(message.body);
    if (!parsed.success) {
      retryPoisonMessage(message, ctx);
      continue;
    }
    try {
      const delivery = await refreshSource(ctx, parsed.data, message.attempts);
      if (delivery.action === "retry") message.retry({ delaySeconds: delivery.delaySeconds });
      else message.ack();
    } catch (error) {
      // Bookkeeping itself failed (D1 unreachable, say): try the whole delivery again later.
      logEvent("error", "ingest message failed", {
        "labels.message_id": message.id,
        "error.type": errorType(error),
      });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts, ctx.config.retryBaseSeconds) });
    }
  }
}

/** Rebuilds the batch's cells together, so the data version moves once per batch. */
async function consumeRecompute(batch: MessageBatch, ctx: ServiceContext) {
  const cells: Cell[] = [];
  const valid: Message[] = [];
  for (const message of batch.messages) {
    const parsed = recomputeMessage.safeParse(message.body);
    if (parsed.success) {
      cells.push(parsed.data);
      valid.push(message);
    } else retryPoisonMessage(message, ctx);
  }
  try {
    await recomputeCells(ctx, cells);
    for (const message of valid) message.ack();
  } catch (error) {
    logEvent("error", "recompute batch failed", { "error.type": errorType(error) });
    for (const message of valid) {
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts, ctx.config.retryBaseSeconds) });
    }
  }
}

async function consumeDeadLetters(batch: MessageBatch, ctx: ServiceContext, queue: string) {
  for (const message of batch.messages) {
    await recordDeadLetter(ctx, {
      messageId: message.id,
      queue,
      body: message.body,
      attempts: message.attempts,
    });
    message.ack();
  }
}

/** The Worker's queue handler: one consumer per queue declared in wrangler.toml. */
export function handleQueue(batch: MessageBatch, env: Env, execution: ExecutionContext) {
  const attributes = {
    "messaging.system": "cloudflare_queues",
    "messaging.destination.name": batch.queue,
    "messaging.batch.message_count": batch.messages.length,
  };
  return observeBackgroundWork(
    env,
    loadConfig(env).telemetry,
    execution,
    `process ${batch.queue}`,
    attributes,
    () => {
      // Inside the invocation's span, so that the context's D1 and KV calls are traced under it.
      const ctx = createServiceContext(env, (work) => execution.waitUntil(work));
      switch (batch.queue) {
        case QUEUES.ingest:
          return consumeIngest(batch, ctx);
        case QUEUES.recompute:
          return consumeRecompute(batch, ctx);
        case QUEUES.ingestDeadLetters:
          return consumeDeadLetters(batch, ctx, QUEUES.ingest);
        case QUEUES.recomputeDeadLetters:
          return consumeDeadLetters(batch, ctx, QUEUES.recompute);
        default:
          // A queue this Worker was never meant to consume: leave it for redelivery, loudly.
          logEvent("error", "no consumer for this queue", { "labels.queue": batch.queue });
          batch.retryAll();
          return Promise.resolve();
      }
    },
  );
}

/** The Worker's cron handler: queues a refresh of every source that is due. */
export function handleScheduled(controller: ScheduledController, env: Env, execution: ExecutionContext) {
  const attributes = { "cloudflare.cron": controller.cron };
  return observeBackgroundWork(
    env,
    loadConfig(env).telemetry,
    execution,
    "scheduled refresh",
    attributes,
    async () => {
      const ctx = createServiceContext(env, (work) => execution.waitUntil(work));
      await scheduleDueRefreshes(ctx, controller.scheduledTime);
    },
  );
}
