# What `cmake --install` puts on a host besides the binary and its man
# pages (userspace/CMakeLists.txt), and the .deb CPack builds from it:
#   cmake --build build --target zeroseg man_pages completions && (cd build && cpack -G DEB)
# gives build/zeroseg_VERSION_ARCH.deb (docs/install.md).
include(GNUInstallDirs)
# cpack (and `make install`) install what was built, not everything: the
# tests and benchmarks are no part of a package
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

# The unit, with ExecStart naming the binary where this install puts it:
# the prefix is known only when the install runs (cpack installs under
# /usr, a plain `cmake --install` under CMAKE_INSTALL_PREFIX or --prefix).
install(CODE "
  file(READ \"${PROJECT_SOURCE_DIR}/deploy/zeroseg.service\" unit)
  string(REPLACE \"ExecStart=/usr/bin/zeroseg \" \"ExecStart=\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/zeroseg \" unit \"\${unit}\")
  set(dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
  message(STATUS \"Installing: \${dir}/zeroseg.service\")
  file(MAKE_DIRECTORY \"\${dir}\")
  file(WRITE \"\${dir}/zeroseg.service\" \"\${unit}\")
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/zeroseg.service\")
")
# The settings: /etc/zeroseg/agent.yaml whatever the prefix (the unit reads
# it there), readable by root only (it may name TLS keys); a conffile in
# the .deb, so an upgrade keeps the operator's edits.
install(FILES ${PROJECT_SOURCE_DIR}/deploy/agent.yaml DESTINATION /etc/zeroseg
        PERMISSIONS OWNER_READ OWNER_WRITE)
# the README, docs/, policies/ and the benchmarks' plots as the repository
# lays them out, so the README's links (docs/cli.md, docs/img/map.png,
# policies/, bench/plots/) and the pages' (../policies/..., ../bench/plots/...)
# resolve where they are installed
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
        FILES_MATCHING PATTERN "*.md" PATTERN "*.png")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/policies/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/policies)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/bench/plots/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/bench/plots
        FILES_MATCHING PATTERN "*.png")

set(CPACK_PACKAGE_NAME zeroseg)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "zeroseg")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF/XDP microsegmentation agent and CLI")
set(CPACK_PACKAGE_DESCRIPTION "zeroseg enforces identity-labelled flow rules on network interfaces with eBPF \
programs (XDP and tc), compiled from segment policies by one agent, and turns the kernel's flow events into \
flow logs, metrics and lateral-movement alerts.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# DESTDIR, so that /etc/zeroseg lands in the package's tree, not the
# packaging machine's, and the unit's ExecStart is computed with the prefix
# /usr
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # zeroseg_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "zeroseg maintainers <zeroseg@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/zeroseg/zeroseg")
# Depends from what the binary links (dpkg-shlibdeps: libbpf1, libyaml-cpp0.7,
# libnl-3-200, libcpp-httplib0.11, libssl3, zlib1g, ...), plus what it runs
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "bpftool")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/debian/conffiles;${PROJECT_SOURCE_DIR}/deploy/debian/postinst;${PROJECT_SOURCE_DIR}/deploy/debian/prerm;${PROJECT_SOURCE_DIR}/deploy/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)  # the debug info stays in the build (127 MB -> a few)
include(CPack)
