/**
 * The agent's external-data check on real ONNX bytes (onnx-proto, generated from onnx.proto): a tensor
 * with data_location EXTERNAL or external_data entries is found wherever it sits — initializer, sparse
 * initializer, node attribute, subgraph of an If, function body — and a self-contained model passes.
 */
import { createRequire } from 'node:module';
import type { onnx as OnnxNs } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { untrustedModelProblem } from '../../agent/dist/models/model-check.js';
import { externalDataModel, mlpModel } from '../../host/src/testing/onnx-models.js';

const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNs };
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const external = (name: string, location: string, withFlag = true): OnnxNs.ITensorProto => ({
  name,
  dims: [1],
  dataType: FLOAT,
  ...(withFlag ? { dataLocation: onnx.TensorProto.DataLocation.EXTERNAL } : {}),
  externalData: [{ key: 'location', value: location }],
});
const model = (graph: OnnxNs.IGraphProto, functions: OnnxNs.IFunctionProto[] = []) =>
  onnx.ModelProto.encode(
    onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph, functions }),
  ).finish();

describe('untrustedModelProblem', () => {
  it('passes self-contained models and leaves bytes that are not protobuf to the runtime', () => {
    expect(untrustedModelProblem(mlpModel({ width: 8, layers: 2 }))).toBeNull();
    expect(untrustedModelProblem(Buffer.from('GIF89a not a model'))).toBeNull();
  });

  it('finds external data in an initializer, by flag or by entries alone', () => {
    expect(untrustedModelProblem(externalDataModel('etc/passwd'))).toMatch(
      /graph initializer tensor "w" references external data at "etc\/passwd"/,
    );
    expect(untrustedModelProblem(model({ name: 'g', initializer: [external('w2', 'secret.bin', false)] }))).toMatch(
      /tensor "w2" references external data at "secret.bin"/,
    );
  });

  it('finds it in a sparse initializer, a Constant attribute, an If branch and a function body', () => {
    expect(
      untrustedModelProblem(
        model({
          name: 'g',
          sparseInitializer: [
            {
              values: external('sv', 'a.bin'),
              indices: { name: 'si', dims: [1], dataType: 7, int64Data: [0] },
              dims: [4],
            },
          ],
        }),
      ),
    ).toMatch(/sparse initializer tensor "sv"/);
    const constant: OnnxNs.INodeProto = {
      opType: 'Constant',
      output: ['c'],
      attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: external('ct', 'b.bin') }],
    };
    expect(untrustedModelProblem(model({ name: 'g', node: [constant] }))).toMatch(
      /node attribute tensor "ct" references external data at "b.bin"/,
    );
    const branch: OnnxNs.IGraphProto = { name: 'then', initializer: [external('deep', '../../c.bin')] };
    const ifNode: OnnxNs.INodeProto = {
      opType: 'If',
      input: ['cond'],
      output: ['o'],
      attribute: [{ name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch }],
    };
    expect(untrustedModelProblem(model({ name: 'g', node: [ifNode] }))).toMatch(/subgraph initializer tensor "deep"/);
    const fn: OnnxNs.IFunctionProto = { name: 'f', domain: 'x', node: [constant] };
    expect(untrustedModelProblem(model({ name: 'g' }, [fn]))).toMatch(/function node attribute tensor "ct"/);
  });
});
