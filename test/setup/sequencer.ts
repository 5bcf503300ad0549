/**
 * The order test files start in. Files run in parallel (vitest.config.ts `maxWorkers`), so the long ones
 * must start first or the run ends with one worker on a long file and the others idle: the Next.js builds,
 * then the multi-process, package and CLI tests, then the rest (within each group, vitest's own order: the
 * last run's durations when cached, else larger files first).
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const FIRST = [/^test\/package\/examples-clean-clone\./, /^test\/adapters\/adapters\.test\./];
const EARLY = [/^test\/reliability\//, /^test\/package\//, /^test\/cli\//, /^test\/admin\/admin-browser\./];

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const path = relative(spec.project.config.root, spec.moduleId).replaceAll('\\', '/');
      return FIRST.some((re) => re.test(path)) ? 0 : EARLY.some((re) => re.test(path)) ? 1 : 2;
    };
    return sorted
      .map((spec, i) => ({ spec, i, r: rank(spec) }))
      .sort((a, b) => a.r - b.r || a.i - b.i)
      .map((x) => x.spec);
  }
}
