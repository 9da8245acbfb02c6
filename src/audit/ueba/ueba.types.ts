/**
 * Behaviour analytics (UEBA) vocabulary. Everything here is ids, counts and clock hours: the detector never sees a
 * PHI value, and neither do the findings it produces.
 */

/** The rules the detector runs; each finding names one. */
export const UEBA_RULES = ['VOLUME', 'OFF_HOURS', 'NO_RELATION', 'SURNAME_MATCH', 'VIP_ACCESS'] as const;
export type UebaRule = (typeof UEBA_RULES)[number];

/** Reads of one user in one clock hour of the hospital's time zone (`day` is that zone's calendar date). */
export interface HourActivity {
  userId: string;
  role: string;
  /** YYYY-MM-DD in the hospital's time zone. */
  day: string;
  /** 0 to 23 in the hospital's time zone. */
  hour: number;
  reads: number;
  patientIds: string[];
  ips: string[];
}

/** One user's reads over one calendar day: the unit a finding is raised for. */
export interface UserDay {
  userId: string;
  role: string;
  day: string;
  reads: number;
  /** Reads per clock hour, 24 entries. */
  hourly: number[];
  patientIds: string[];
  ips: string[];
}

/** Facts that live in feature tables (care team, break-glass, VIP flag, surname match), asked by id only. */
export interface UebaFacts {
  /** The user is on the patient's care team, holds or held a break-glass grant, or read under TREATMENT/EMERGENCY. */
  related(userId: string, patientId: string): boolean;
  vip(patientId: string): boolean;
  /** The patient's last name equals the user's surname (see ueba.facts.ts for what this can and cannot see). */
  sameSurname(userId: string, patientId: string): boolean;
}

/** A robust summary of one daily figure: median and median absolute deviation over the days it was seen. */
export interface Spread {
  median: number;
  mad: number;
  days: number;
}

/** What is usual for a user (or, for a new user, for their role). */
export interface Baseline {
  source: 'own' | 'peer';
  activeDays: number;
  reads: Spread;
  peakHour: Spread;
  patients: Spread;
  unrelated: Spread;
  /** Share of active days with activity within one hour of each clock hour (24 entries, 0 to 1). */
  hourShare: number[];
  /** Client addresses seen on the user's active days (empty for a peer baseline). */
  ips: Set<string>;
}

/** One rule's verdict on one user-day: a score from 0 to 100 and an explanation with figures, never PHI. */
export interface Finding {
  userId: string;
  role: string;
  rule: UebaRule;
  day: string;
  score: number;
  explanation: string;
  /** The patient the finding is about, for rules about one record (surname match, VIP). */
  patientId: string | null;
  /** Figures behind the score (counts and baselines), for the SIEM. */
  figures: Record<string, number | string>;
}

/** Tunables of the detector; `DEFAULT_DETECTOR_OPTIONS` holds the values the synthetic test calibrated. */
export interface DetectorOptions {
  /** Days of history a baseline is built from. */
  lookbackDays: number;
  /** Active days a user needs before their own baseline is trusted; fewer fall back to their role's. */
  minHistoryDays: number;
  /** Robust z-score (deviations above the median) from which the volume and relation rules fire. */
  zThreshold: number;
  /** Smallest daily reads for a volume finding, and smallest multiple of the usual median. */
  minVolumeReads: number;
  volumeRatio: number;
  /** Smallest number of distinct patients opened without a relation for a relation finding. */
  minUnrelated: number;
  /** An hour is unusual when fewer than this share of active days had activity within an hour of it. */
  unusualHourShare: number;
  /** Smallest number of reads in unusual hours for an off-hours finding. */
  minOffHoursReads: number;
}

export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = {
  lookbackDays: 28,
  minHistoryDays: 7,
  zThreshold: 5,
  minVolumeReads: 30,
  volumeRatio: 2.5,
  minUnrelated: 15,
  unusualHourShare: 0.05,
  minOffHoursReads: 3,
};
