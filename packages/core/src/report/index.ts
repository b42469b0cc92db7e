// The report area's public surface: one self-contained HTML page of a job or an output, re-exported by src/index.ts.
export { writeReport, WriteReportOptionsSchema } from './write-report.js';
export type { WriteReportOptions, WrittenReport } from './write-report.js';
export type { ReportData, ReportModel, Agreement, FailureGroup, TimelineBatch } from './report-data.js';
