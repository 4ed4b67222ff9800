"""A CalcJob for the end-to-end tests that moves files every way AiiDA can (test code only, no entry point).

``FileTreeCalculation`` writes input files in nested folders, copies a local node's file, copies and
symlinks a remote file, and runs ``run.sh`` (bash) which combines them into ``out/combined.txt`` and
writes ``out/*.dat`` files and one large ``out/big.txt``; it retrieves with globs.
"""

from __future__ import annotations

from typing import cast

from aiida import orm
from aiida.common.datastructures import CalcInfo, CodeInfo
from aiida.common.folders import Folder
from aiida.engine import CalcJob, CalcJobProcessSpec
from plumpy.ports import InputPort, PortNamespace

NESTED_FILES = {'inputs/a.txt': 'alpha\n', 'inputs/deep/b/c.txt': 'gamma\n'}
"""Input files written into the sandbox, in nested folders."""
BIG_FILE_LINES = 20000
"""``out/big.txt`` holds this many lines of ``line NNNNN`` (12 bytes each)."""
RUN_SCRIPT = f"""set -e
mkdir -p out keep
cat inputs/a.txt inputs/deep/b/c.txt local/copied.txt remote_copy.txt remote_link.txt > out/combined.txt
test -L remote_link.txt
echo one > out/first.dat
echo two > out/second.dat
echo kept > keep/note.txt
for i in $(seq -w 1 {BIG_FILE_LINES}); do echo "line $i"; done > out/big.txt
"""


class FileTreeCalculation(CalcJob):
    """Exercise sandbox, local, remote-copy and remote-symlink inputs, and glob retrieval."""

    @classmethod
    def define(cls, spec: CalcJobProcessSpec) -> None:  # type: ignore[override]
        super().define(spec)
        spec.input('local_file', valid_type=orm.SinglefileData, help='Copied to local/copied.txt.')
        spec.input(
            'remote_file',
            valid_type=orm.RemoteData,
            help='Copied to remote_copy.txt, linked as remote_link.txt.',
        )
        # plumpy types a namespace's items Port | PortNamespace: these are two namespaces and an input port.
        options = cast(PortNamespace, cast(PortNamespace, spec.inputs['metadata'])['options'])
        cast(InputPort, options['resources']).default = {
            'num_machines': 1,
            'num_mpiprocs_per_machine': 1,
        }

    def prepare_for_submission(self, folder: Folder) -> CalcInfo:
        for relative, content in NESTED_FILES.items():
            folder.get_subfolder(relative.rpartition('/')[0], create=True)
            with folder.open(relative, 'w') as handle:
                handle.write(content)
        with folder.open('run.sh', 'w') as handle:
            handle.write(RUN_SCRIPT)
        remote = self.inputs.remote_file
        computer_uuid = remote.computer.uuid
        code_info = CodeInfo()
        code_info.code_uuid = self.inputs.code.uuid
        code_info.cmdline_params = ['run.sh']
        calc_info = CalcInfo()
        calc_info.codes_info = [code_info]
        calc_info.local_copy_list = [
            (self.inputs.local_file.uuid, self.inputs.local_file.filename, 'local/copied.txt')
        ]
        calc_info.remote_copy_list = [(computer_uuid, remote.get_remote_path(), 'remote_copy.txt')]
        calc_info.remote_symlink_list = [(computer_uuid, remote.get_remote_path(), 'remote_link.txt')]
        calc_info.retrieve_list = ['out/combined.txt', 'out/*.dat', ('keep/*', 'kept', 1), 'out/big.txt']
        return calc_info
