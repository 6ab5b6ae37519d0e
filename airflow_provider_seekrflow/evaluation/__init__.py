"""
Evaluate a served model: run a prompt set through chat completions, score the answers, summarise them.

- ``prompts``: the prompt set's line format (``messages``, ``expected``, ``check``), read as a stream
  with line-numbered errors;
- ``scoring``: exact, contains, regex and user-callable scorers; ``judge``: an LLM judge (a SeekrFlow model);
- ``runner``: the bounded-concurrency loop over the async hook, answers written in input order;
- ``manifest``: the tally and the small manifest pushed to XCom;
- ``storage``: the prompt file and the answers file, local or in object storage.

``operators.evaluate.SeekrFlowEvaluateModelOperator`` runs them in a task. This module is the
package's face only: the code lives in its submodules, which never import it.
"""
