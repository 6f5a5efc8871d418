# The one mechanical style: clang-format must leave every C file as it is.
TESTS += tests/style/check-format.sh
dist_check_SCRIPTS += tests/style/check-format.sh
# The layering: policy/ knows no front end, the store's files form no circle.
TESTS += tests/style/check-layering.sh
dist_check_SCRIPTS += tests/style/check-layering.sh
