/** The operations the benchmark sends, identical for the product and both baselines. */
export type Operation = 'patients' | 'patient' | 'findPatients' | 'createEncounter' | 'login';

const PATIENT_FIELDS =
  'id mrn firstName lastName dateOfBirth sex ssn email phone address { line1 city postalCode country } insuranceMemberId createdAt updatedAt';
const ENCOUNTER_FIELDS = 'id clinicianId startedAt reason notes diagnosisCodes sensitivity createdAt';

export const QUERIES: Record<Operation, string> = {
  patients: `query Patients { patients(first: 100) { count pageInfo { endCursor hasNextPage } nodes { ${PATIENT_FIELDS} } } }`,
  patient: `query Patient($id: ID!) { patient(id: $id) { ${PATIENT_FIELDS} encounters { ${ENCOUNTER_FIELDS} } } }`,
  findPatients: `query Find($ssn: String!) { findPatients(ssn: $ssn) { ${PATIENT_FIELDS} } }`,
  createEncounter: `mutation Record($input: EncounterInput!) { createEncounter(input: $input) { ${ENCOUNTER_FIELDS} } }`,
  login: `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }`,
};

/** What the requests address: seeded ids and fictional identifiers, and the shared bench password. */
export interface ScenarioData {
  patientIds: string[];
  ssns: string[];
  loginEmails: string[];
  password: string;
}

/** One benchmark scenario as the issue numbers them. */
export interface Scenario {
  id: number;
  key: string;
  title: string;
  operation: Operation;
  connections: number;
  /** Scenario 6: one connection per user, each with its own access token and rate-limit bucket. */
  perUser?: boolean;
  /** Scenario 7: logins at this rate per second beside the main load. */
  loginsBeside?: number;
}

/** The seven scenarios of issue 11; connection counts are the load, not tuning knobs. */
export function scenarios(users: number): Scenario[] {
  return [
    { id: 1, key: 'patients100', title: 'patients(first: 100), every field', operation: 'patients', connections: 8 },
    { id: 2, key: 'patientWithEncounters', title: 'patient(id) with encounters', operation: 'patient', connections: 8 },
    { id: 3, key: 'findPatientsBySsn', title: 'findPatients(ssn)', operation: 'findPatients', connections: 8 },
    { id: 4, key: 'createEncounter', title: 'createEncounter', operation: 'createEncounter', connections: 8 },
    { id: 5, key: 'login', title: 'login', operation: 'login', connections: 8 },
    {
      id: 6,
      key: 'patients100ManyUsers',
      title: `patients(first: 100), ${users} users, own rate-limit buckets`,
      operation: 'patients',
      connections: users,
      perUser: true,
    },
    {
      id: 7,
      key: 'patients100WithLogins',
      title: 'patients(first: 100) with 10 logins/s beside',
      operation: 'patients',
      connections: 8,
      loginsBeside: 10,
    },
  ];
}

/** The JSON body of the n-th request of an operation (cycling through the seeded data). */
export function requestBody(operation: Operation, data: ScenarioData, n: number): string {
  const pick = <T>(list: T[]) => list[n % list.length];
  const variables: Record<string, unknown> = {};
  switch (operation) {
    case 'patient':
      variables.id = pick(data.patientIds);
      break;
    case 'findPatients':
      variables.ssn = pick(data.ssns);
      break;
    case 'createEncounter':
      variables.input = {
        patientId: pick(data.patientIds),
        reason: 'Benchmark follow-up visit',
        notes: 'Recorded by the load benchmark; fictional.',
        diagnosisCodes: ['Z00.00', 'I10'],
      };
      break;
    case 'login':
      variables.email = pick(data.loginEmails);
      variables.password = data.password;
      break;
    default:
      break;
  }
  return JSON.stringify({ query: QUERIES[operation], variables });
}
