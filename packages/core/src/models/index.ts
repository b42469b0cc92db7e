// The models area's public surface: several models side by side in one job (re-exported by src/index.ts).
export { modelAliases } from './model-alias.js';
export { evaluateModels, modelFigures } from './model-figures.js';
export type { ModelAgreement, ModelFigures, ModelFiguresAccumulator, ModelFiguresOptions } from './model-figures.js';
export { formatModelsSummary, isModelsSummary } from './models-summary.js';
export type { ModelRun, ModelsSummary } from './models-summary.js';
export { isModelsJob, modelJobs } from './models-state.js';
