import { Field, Int, ObjectType } from 'type-graphql';

import { Sex } from '../patients/patient.entity';

/** One encounter in a research record: the year and the diagnosis codes, nothing else. */
@ObjectType({ description: 'A de-identified encounter: year and ICD-10 codes only (reason and notes are dropped).' })
export class ResearchEncounter {
  @Field(() => Int, { description: 'Year of the encounter; month and day are removed.' })
  year!: number;

  @Field(() => [String], { description: 'ICD-10 diagnosis codes.' })
  diagnosisCodes!: string[];
}

/** One patient in a research dataset, de-identified by HIPAA Safe Harbor. */
@ObjectType({
  description:
    'A patient de-identified by HIPAA Safe Harbor (45 CFR 164.514(b)(2)): no name, contact detail, identifier, ' +
    'full date or free text; a pseudonym that is random per export.',
})
export class ResearchRecord {
  @Field(() => String, { description: 'Random code for this patient in this export only; not derived from any id.' })
  pseudonym!: string;

  @Field(() => Int, { nullable: true, description: 'Year of birth; null for ages over 89.' })
  birthYear!: number | null;

  @Field(() => String, { description: 'Five-year age band at export time, e.g. "40-44"; "90+" above 89.' })
  ageGroup!: string;

  @Field(() => Sex)
  sex!: Sex;

  @Field(() => String, {
    description: 'First three ZIP digits; "000" for small areas (HHS list), non-US or unknown addresses.',
  })
  zip3!: string;

  @Field(() => [ResearchEncounter], {
    description: 'Encounters without a sensitivity label, oldest first.',
  })
  encounters!: ResearchEncounter[];
}

/** A de-identified dataset of every patient with a current RESEARCH consent. */
@ObjectType({ description: 'A de-identified research dataset (patients with a current RESEARCH consent).' })
export class ResearchDataset {
  @Field(() => String, { description: 'The de-identification method applied.' })
  method!: string;

  @Field(() => [ResearchRecord], { description: 'One record per patient, in random order.' })
  records!: ResearchRecord[];
}
