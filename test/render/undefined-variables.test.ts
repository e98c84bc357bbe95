import { describe, expect, it } from 'vitest';
import { NUNJUCKS_OPTIONS } from '../../src/render/nunjucks-env.js';
import { findUndefinedVariables } from '../../src/render/undefined-variables.js';

const find = (body: string, defined: string[] = []) => findUndefinedVariables(body, new Set(defined), NUNJUCKS_OPTIONS).map((u) => `${u.name}@${u.line}:${u.column}`);

describe('findUndefinedVariables', () => {
  it('lists every undefined variable with line and column, in output and in conditions', () => {
    expect(find('a={{ A }}\nb={{B}} c={{ C }}\n{% if D %}x{% endif %}\n', ['A'])).toEqual(['B@2:5', 'C@2:14', 'D@3:7']);
  });

  it('knows loop variables and `loop` inside a for, and only there', () => {
    expect(find('{% for m in members %}{{ m.name }}{{ loop.index }}{% endfor %}{{ m }}', ['members'])).toEqual(['m@1:66']);
    expect(find('{% for k, v in map %}{{ k }}={{ v }}{% endfor %}', ['map'])).toEqual([]);
  });

  it('knows set, macro arguments with defaults, caller and imports', () => {
    expect(find('{% set x = A %}{{ x }}', ['A'])).toEqual([]);
    expect(find('{% macro m(a, b=Z) %}{{ a }}{{ b }}{{ caller }}{% endmacro %}{{ m(1) }}')).toEqual(['Z@1:17']);
    expect(find('{% from "lib" import k %}{{ k() }}{% import "lib" as lib %}{{ lib.x }}')).toEqual([]);
  });

  it('lets "is defined", "is undefined" and "default" test optional variables', () => {
    expect(find('{% if OPT is defined %}{{ OPT }}{% endif %}{% if X is undefined %}-{% endif %}{{ Y | default("y") }}')).toEqual(['OPT@1:27']);
  });

  it('does not mistake filter names, keyword names, dict keys or attribute names for variables', () => {
    expect(find('{{ A | replace("a", "b") | csv }}{{ f(key=A) }}{{ {name: A} }}{{ A.length }}', ['A', 'f'])).toEqual([]);
  });

  it('reads gen-config.sh style {{KEY}} placeholders as variables', () => {
    expect(find('ExecStart={{BIN_PATH}}/etcd --name={{NODE_IP}}', ['BIN_PATH'])).toEqual(['NODE_IP@1:38']);
  });
});
