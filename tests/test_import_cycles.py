"""No runtime import cycles in the package (imports under TYPE_CHECKING do not count): each
module can be understood, and imported, after the ones it uses."""

from __future__ import annotations

import grimp


def test_the_package_has_no_runtime_import_cycle() -> None:
    graph = grimp.build_graph("llamafile_ls", exclude_type_checking_imports=True)
    cycles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if imported.startswith("llamafile_ls") and graph.chain_exists(importer=imported, imported=module)
    ]
    assert cycles == []
