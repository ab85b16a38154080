# add_bpf_object(NAME SOURCE)
#
# Compiles SOURCE (a bpf/*.bpf.c entry file) with clang -target bpf and
# generates a libbpf skeleton NAME.skel.h with bpftool. The object's ELF is
# embedded in the skeleton, so nothing is read from disk at run time.
# Defines the INTERFACE target bpf_NAME: link it to include the skeleton.

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

# Without the host's system include dirs, -target bpf finds no <asm/types.h>.
execute_process(
  COMMAND sh -c "${BPF_CLANG} -v -E - </dev/null 2>&1 | sed -n '/<...> search starts here:/,/End of search list./{ s| \\(/.*\\)|-idirafter \\1|p }'"
  OUTPUT_VARIABLE _bpf_sys_includes OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(BPF_SYSTEM_INCLUDES UNIX_COMMAND "${_bpf_sys_includes}")

set(BPF_CFLAGS -g -O2 -target bpf -mcpu=v3 -Wall -Wextra -Werror
    -D__TARGET_ARCH_x86)

function(add_bpf_object NAME SOURCE)
  set(out_dir ${CMAKE_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${NAME}.bpf.o)
  set(skel ${out_dir}/${NAME}.skel.h)
  file(MAKE_DIRECTORY ${out_dir})
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} ${BPF_CFLAGS} -I${PROJECT_SOURCE_DIR}/include
            ${BPF_SYSTEM_INCLUDES} -MD -MF ${obj}.d
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${SOURCE} -o ${obj}
    DEPFILE ${obj}.d
    DEPENDS ${SOURCE}
    COMMENT "BPF ${SOURCE}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${NAME}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${NAME}.skel.h"
    VERBATIM)
  add_custom_target(bpf_${NAME}_skel DEPENDS ${skel})
  add_library(bpf_${NAME} INTERFACE)
  add_dependencies(bpf_${NAME} bpf_${NAME}_skel)
  target_include_directories(bpf_${NAME} INTERFACE ${out_dir})
endfunction()
