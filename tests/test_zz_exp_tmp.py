import datetime, pytest
from airflow.providers.common.compat.sdk import DAG
from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator

SEEN = []
def cb(context):
    SEEN.append((type(context.get("exception")), context.get("exception")))

def test_exp(seekrflow_connection, tmp_path):
    emu = seekrflow_connection
    emu.configure(job_duration=1, job_outcome="failed", status_message="boom")
    f = tmp_path / "a.md"; f.write_text("# hello\nworld\n")
    with DAG("exp1", schedule=None, start_date=datetime.datetime(2025,1,1)) as dag:
        up = SeekrFlowUploadFileOperator(task_id="up", file_path=str(f))
        gen = SeekrFlowGenerateAlignmentOperator(task_id="gen", instructions="x", files=up.output, min_poll_interval=0.2, poll_interval=0.5, on_failure_callback=cb, deferrable=False)
    import airflow
    if airflow.__version__.startswith('3'):
     from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
     bag = DagBag(dag_folder="/nonexistent", collect_dags=False)
     bag.bag_dag(dag)
     from airflow.dag_processing.bundles.manager import DagBundlesManager
     DagBundlesManager().sync_bundles_to_db()
     sync_bag_to_db(bag, "dags-folder", None)
    dr = dag.test()
    print(type(dr), dr.state)
    for ti in dr.get_task_instances():
        print(ti.task_id, ti.map_index, ti.state)
        try:
            print("xcom", ti.xcom_pull(task_ids=ti.task_id, key="alignment_job_id"), ti.xcom_pull(task_ids=ti.task_id))
        except Exception as e:
            print("xcom err", repr(e))
    print(SEEN)
    print(emu.journal())
