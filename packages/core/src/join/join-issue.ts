/** A problem the join reports instead of ignoring: counted always, listed by `--verbose`. */
export interface JoinIssue {
  code: 'JOIN_MISSING_RESULT' | 'JOIN_UNKNOWN_RESULT' | 'JOIN_DUPLICATE_RESULT';
  customId: string;
  message: string;
  /** Input record number (missing results). */
  record?: number;
  /** Result file and line (unknown and duplicate results, when read from files). */
  file?: string;
  line?: number;
}

/** Receives join issues as they are found (so none need to be kept in memory). */
export type JoinIssueHandler = (issue: JoinIssue) => void;
