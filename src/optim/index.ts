/** `optim`: optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) and learning-rate schedulers. */
export {
  Optimizer,
  flattenStateDict,
  unflattenStateDict,
  type BaseOptions,
  type Closure,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
  type ParamsInput,
} from "./optimizer.js";
export { SGD, type SGDOptions } from "./sgd.js";
export { Adam, AdamW, type AdamOptions } from "./adam.js";
export { RMSprop, type RMSpropOptions } from "./rmsprop.js";
export { Adagrad, type AdagradOptions } from "./adagrad.js";
export * as lrScheduler from "./lr-scheduler.js";
