/** `1 token`, `2 tokens`: a count with its noun in the right number (English; `plural` for irregular ones). */
export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : pluralForm}`;
}
